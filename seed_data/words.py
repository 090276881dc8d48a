"""The generator's own word lists.

They are committed here, not drawn from a fake-data library, so the rows depend on nothing
but this file, `generate.py` and Python's `random.Random` (whose Mersenne Twister output
for a given seed is the same on every platform). Changing any list changes the data set:
bump `generate.GENERATOR_VERSION` and the expected checksum in the tests when you do.
"""

from __future__ import annotations

# The lists stay packed several to a line: one name per line would bury them in length.
# fmt: off

CATEGORIES: tuple[str, ...] = (
    "art",
    "beauty",
    "christmas",
    "diy-and-crafts",
    "education",
    "event-planning",
    "finance",
    "home-decor",
    "mens-fashion",
    "quotes",
    "tattoos",
    "travel",
    "vehicles",
)

# Share of events per category, roughly as uneven as the original's (a few big ones).
CATEGORY_WEIGHTS: tuple[int, ...] = (9, 8, 8, 8, 6, 6, 7, 9, 7, 8, 9, 10, 5)

# Per category: subjects that titles, descriptions and tags are built from.
SUBJECTS: dict[str, tuple[str, ...]] = {
    "art": (
        "watercolor", "acrylic painting", "sketchbook", "portrait", "landscape", "abstract art",
        "ink drawing", "charcoal", "oil painting", "pastel", "street art", "collage",
        "linocut", "gouache", "still life", "figure drawing",
    ),
    "beauty": (
        "makeup", "eyeliner", "skincare routine", "nail art", "hairstyle", "lipstick",
        "contour", "braids", "face mask", "brows", "curls", "manicure", "serum",
        "bridal makeup", "smoky eye", "glow",
    ),
    "christmas": (
        "christmas tree", "ornaments", "wreath", "stocking", "advent calendar",
        "gingerbread", "christmas cookies", "garland", "nativity", "santa", "snowman",
        "christmas table", "mistletoe", "christmas lights", "gift wrapping", "elf",
    ),
    "diy-and-crafts": (
        "mason jar", "macrame", "paper flowers", "embroidery", "crochet", "knitting",
        "candle making", "resin", "scrapbook", "pallet furniture", "origami", "quilt",
        "soap", "wood burning", "felt", "beading",
    ),
    "education": (
        "classroom", "worksheet", "phonics", "math games", "science experiment",
        "reading list", "homeschool", "lesson plan", "flash cards", "study tips",
        "bulletin board", "spelling", "geography", "montessori", "handwriting", "history",
    ),
    "event-planning": (
        "wedding", "birthday party", "baby shower", "centerpiece", "party favors",
        "balloon arch", "bridal shower", "graduation party", "table setting", "invitations",
        "photo booth", "dessert table", "anniversary", "engagement party", "venue", "backdrop",
    ),
    "finance": (
        "budget", "savings plan", "debt payoff", "side hustle", "investing", "frugal living",
        "money saving challenge", "credit score", "retirement", "passive income",
        "emergency fund", "meal planning on a budget", "index funds", "taxes", "spreadsheet",
        "net worth",
    ),
    "home-decor": (
        "living room", "bedroom", "kitchen", "farmhouse", "boho decor", "gallery wall",
        "mantel", "entryway", "bathroom", "shelf styling", "throw pillows", "rug",
        "reading nook", "patio", "minimalist home", "plant shelf",
    ),
    "mens-fashion": (
        "suit", "sneakers", "denim jacket", "chinos", "street style", "watch", "beard",
        "leather boots", "casual outfit", "blazer", "overcoat", "capsule wardrobe",
        "smart casual", "tie", "hoodie", "linen shirt",
    ),
    "quotes": (
        "motivation", "love quotes", "friendship", "inspiration", "self love", "life lessons",
        "positive vibes", "strength", "happiness", "mindset", "family", "gratitude",
        "success", "courage", "kindness", "hope",
    ),
    "tattoos": (
        "tattoo", "fine line tattoo", "sleeve", "minimalist tattoo", "rose tattoo",
        "script tattoo", "mandala", "tribal", "geometric tattoo", "small tattoos",
        "wrist tattoo", "floral tattoo", "matching tattoos", "dragon", "butterfly", "snake",
    ),
    "travel": (
        "road trip", "beach", "packing list", "itinerary", "national park", "backpacking",
        "city break", "island", "mountains", "travel hacks", "hidden gems", "bucket list",
        "hiking trail", "europe", "southeast asia", "camping",
    ),
    "vehicles": (
        "classic car", "motorcycle", "camper van", "pickup truck", "muscle car",
        "sports car", "jeep", "off road", "electric car", "vintage truck", "supercar",
        "car interior", "custom bike", "van life", "race car", "restoration",
    ),
}

ADJECTIVES: tuple[str, ...] = (
    "easy", "simple", "beautiful", "cozy", "modern", "vintage", "creative", "cute",
    "stunning", "quick", "budget", "amazing", "rustic", "elegant", "bold", "minimal",
    "colorful", "classic", "unique", "fun", "best", "gorgeous", "clever", "timeless",
)

TITLE_TEMPLATES: tuple[str, ...] = (
    "{n} {adj} {subject} ideas",
    "{adj} {subject} for beginners",
    "How to make a {adj} {subject}",
    "{subject} inspiration",
    "The best {subject} of {year}",
    "{n} {subject} tips you need to know",
    "{adj} {subject}",
    "My {adj} {subject} makeover",
    "{subject}: a step by step guide",
    "{n} ways to style {subject}",
)

DESCRIPTION_OPENERS: tuple[str, ...] = (
    "Looking for {adj} {subject} ideas?",
    "Here are {n} {adj} {subject} ideas to try this weekend.",
    "This {adj} {subject} is easier than it looks.",
    "Everything you need to know about {subject}.",
    "Save this pin for your next {subject} project!",
    "We tried {n} {subject} hacks so you don't have to.",
)

DESCRIPTION_CLOSERS: tuple[str, ...] = (
    "Click through for the full tutorial.",
    "Find out more on the blog.",
    "Follow for more {category} ideas.",
    "Free printable included.",
    "Which one is your favourite?",
    "Tag a friend who would love this.",
    "",
)

# Rare decorations so the pipeline carries non-ASCII text end to end (utf8mb4, JSON, Spark).
EMBELLISHMENTS: tuple[str, ...] = ("✨", "❤️", "🎄", "😍", "🔥", "–", "…")

POSTER_SUFFIXES: tuple[str, ...] = (
    "Designs", "Studio", "Blog", "Home", "Co.", "Creations", "Life", "Daily", "Mag",
    "Style", "Collective", "Club", "Journal", "Crafts", "Lab", "Hub",
)

POSTER_PREFIXES: tuple[str, ...] = (
    "The", "Simply", "Little", "Happy", "Modern", "Wild", "Urban", "Cozy", "Bright",
    "Golden", "Hello", "Sunny", "Bold", "Real", "Pretty", "Clever",
)

GENERIC_TAGS: tuple[str, ...] = (
    "ideas", "inspiration", "diy", "tutorial", "aesthetic", "trending", "tips", "easy",
    "style", "design", "love", "beautiful", "pretty", "cute", "gift ideas", "home",
)

FIRST_NAMES: tuple[str, ...] = (
    "Aaron", "Abigail", "Adam", "Adrian", "Aisha", "Alan", "Albert", "Alex", "Alexander",
    "Alexis", "Alice", "Alicia", "Allison", "Amanda", "Amber", "Amy", "Andrea", "Andrew",
    "Angela", "Anna", "Anthony", "Antonio", "April", "Ashley", "Austin", "Barbara",
    "Benjamin", "Beth", "Betty", "Bradley", "Brandon", "Brenda", "Brian", "Brittany",
    "Bruce", "Bryan", "Caleb", "Cameron", "Carl", "Carlos", "Carol", "Caroline", "Catherine",
    "Charles", "Charlotte", "Chelsea", "Cheryl", "Chloe", "Christian", "Christina",
    "Christopher", "Cindy", "Claire", "Colin", "Courtney", "Craig", "Crystal", "Cynthia",
    "Daniel", "Danielle", "David", "Deborah", "Dennis", "Derek", "Diana", "Diane", "Donald",
    "Donna", "Dorothy", "Douglas", "Dylan", "Edward", "Elaine", "Elizabeth", "Ella", "Emily",
    "Emma", "Eric", "Erica", "Erin", "Ethan", "Eugene", "Evelyn", "Frances", "Frank",
    "Gabriel", "Gary", "George", "Gloria", "Grace", "Gregory", "Hannah", "Harold", "Heather",
    "Helen", "Henry", "Isabella", "Jack", "Jacob", "Jacqueline", "James", "Jamie", "Janet",
    "Jason", "Jeffrey", "Jennifer", "Jeremy", "Jesse", "Jessica", "Joan", "John", "Jonathan",
    "Jordan", "José", "Joseph", "Joshua", "Joyce", "Juan", "Judith", "Julia", "Julie",
    "Justin", "Karen", "Katherine", "Kathleen", "Kayla", "Keith", "Kelly", "Kenneth",
    "Kevin", "Kimberly", "Kyle", "Laura", "Lauren", "Lawrence", "Linda", "Lisa", "Logan",
    "Lori", "Louis", "Lucas", "Madison", "Margaret", "Maria", "Marie", "Marilyn", "Mark",
    "Martha", "Mary", "Mason", "Matthew", "Megan", "Melissa", "Michael", "Michelle",
    "Monica", "Nancy", "Natalie", "Nathan", "Nicholas", "Nicole", "Noah", "Olivia",
    "Pamela", "Patricia", "Patrick", "Paul", "Peter", "Philip", "Rachel", "Ralph", "Raymond",
    "Rebecca", "Renée", "Richard", "Robert", "Roger", "Ronald", "Rose", "Russell", "Ruth",
    "Ryan", "Samantha", "Samuel", "Sandra", "Sara", "Sarah", "Scott", "Sean", "Sharon",
    "Shirley", "Sophia", "Stephanie", "Stephen", "Steven", "Susan", "Teresa", "Terry",
    "Thomas", "Timothy", "Tyler", "Valerie", "Victoria", "Vincent", "Virginia", "Walter",
    "Wayne", "William", "Zachary", "Zoë",
)

LAST_NAMES: tuple[str, ...] = (
    "Adams", "Aguilar", "Alexander", "Allen", "Alvarez", "Anderson", "Bailey", "Baker",
    "Barnes", "Bell", "Bennett", "Brooks", "Brown", "Bryant", "Butler", "Campbell",
    "Carter", "Castillo", "Chavez", "Clark", "Coleman", "Collins", "Cook", "Cooper", "Cox",
    "Cruz", "Davis", "Diaz", "Edwards", "Evans", "Fisher", "Flores", "Ford", "Foster",
    "Garcia", "Gibson", "Gomez", "Gonzalez", "Gordon", "Graham", "Gray", "Green", "Griffin",
    "Hall", "Hamilton", "Harris", "Hayes", "Henderson", "Hernandez", "Hill", "Howard",
    "Hughes", "Jackson", "James", "Jenkins", "Johnson", "Jones", "Jordan", "Kelly",
    "Kennedy", "Kim", "King", "Lee", "Lewis", "Long", "Lopez", "Marshall", "Martin",
    "Martinez", "Mcdonald", "Mendoza", "Meyer", "Miller", "Mitchell", "Moore", "Morales",
    "Morgan", "Morris", "Murphy", "Murray", "Myers", "Nelson", "Nguyen", "Noël", "O'Brien",
    "Ortiz", "Owens", "Parker", "Patel", "Patterson", "Perez", "Perry", "Peterson",
    "Phillips", "Powell", "Price", "Ramirez", "Ramos", "Reed", "Reyes", "Reynolds",
    "Richardson", "Rivera", "Roberts", "Robinson", "Rodriguez", "Rogers", "Ross", "Russell",
    "Sanchez", "Sanders", "Schmidt", "Scott", "Shaw", "Simmons", "Smith", "Snyder",
    "Stevens", "Stewart", "Sullivan", "Taylor", "Thomas", "Thompson", "Torres", "Tran",
    "Turner", "Walker", "Wallace", "Ward", "Washington", "Watson", "Webb", "Wells", "West",
    "White", "Williams", "Wilson", "Wood", "Wright", "Young", "Zhang", "Müller",
)

# About 240 country and territory names, in the order their share of events falls off:
# the generator weights them 1/(rank+1) (Zipf), so a few hold many rows and most few.
COUNTRIES: tuple[str, ...] = (
    "United States", "India", "United Kingdom", "Brazil", "Canada", "Germany", "France",
    "Australia", "Mexico", "Japan", "Philippines", "Indonesia", "Italy", "Spain", "Turkey",
    "Netherlands", "Poland", "Argentina", "South Africa", "Colombia", "Nigeria", "Pakistan",
    "Russian Federation", "Egypt", "Vietnam", "Thailand", "Malaysia", "Chile", "Peru",
    "Sweden", "Belgium", "Switzerland", "Austria", "Ireland", "New Zealand", "Portugal",
    "Greece", "Czech Republic", "Romania", "Hungary", "Denmark", "Norway", "Finland",
    "Israel", "Saudi Arabia", "United Arab Emirates", "Singapore", "Korea", "Bangladesh",
    "Kenya", "Ukraine", "Morocco", "Algeria", "Ecuador", "Venezuela", "Guatemala",
    "Dominican Republic", "Cuba", "Bolivia", "Tunisia", "Ghana", "Ethiopia", "Sri Lanka",
    "Nepal", "Kazakhstan", "Uzbekistan", "Iran", "Iraq", "Jordan", "Lebanon", "Qatar",
    "Kuwait", "Oman", "Bahrain", "Yemen", "Syrian Arab Republic", "Afghanistan", "Myanmar",
    "Cambodia", "Lao People's Democratic Republic", "Mongolia", "China", "Taiwan",
    "Hong Kong", "Macao", "Bulgaria", "Serbia", "Croatia", "Slovenia", "Slovakia",
    "Bosnia and Herzegovina", "Albania", "North Macedonia", "Montenegro", "Kosovo",
    "Lithuania", "Latvia", "Estonia", "Belarus", "Moldova", "Georgia", "Armenia",
    "Azerbaijan", "Iceland", "Luxembourg", "Malta", "Cyprus", "Monaco", "Liechtenstein",
    "Andorra", "San Marino", "Holy See (Vatican City State)", "Uruguay", "Paraguay",
    "Costa Rica", "Panama", "Honduras", "El Salvador", "Nicaragua", "Jamaica", "Haiti",
    "Trinidad and Tobago", "Bahamas", "Barbados", "Belize", "Guyana", "Suriname",
    "French Guiana", "Puerto Rico", "Aruba", "Cayman Islands", "Bermuda", "Greenland",
    "Saint Lucia", "Grenada", "Dominica", "Antigua and Barbuda", "Saint Kitts and Nevis",
    "Saint Vincent and the Grenadines", "Anguilla", "Montserrat", "Guadeloupe", "Martinique",
    "Netherlands Antilles", "Turks and Caicos Islands", "British Virgin Islands",
    "United States Virgin Islands", "Saint Barthelemy", "Saint Martin",
    "Saint Pierre and Miquelon", "Falkland Islands (Malvinas)", "Tanzania", "Uganda",
    "Rwanda", "Burundi", "Zambia", "Zimbabwe", "Malawi", "Mozambique", "Madagascar",
    "Mauritius", "Seychelles", "Comoros", "Mayotte", "Reunion", "Botswana", "Namibia",
    "Lesotho", "Swaziland", "Angola", "Congo", "Democratic Republic of the Congo", "Gabon",
    "Equatorial Guinea", "Cameroon", "Central African Republic", "Chad", "Sudan",
    "South Sudan", "Eritrea", "Djibouti", "Somalia", "Libyan Arab Jamahiriya", "Niger",
    "Mali", "Burkina Faso", "Senegal", "Gambia", "Guinea", "Guinea-Bissau", "Sierra Leone",
    "Liberia", "Cote d'Ivoire", "Togo", "Benin", "Mauritania", "Cape Verde",
    "Sao Tome and Principe", "Western Sahara", "Saint Helena", "Bhutan", "Maldives",
    "Brunei Darussalam", "Timor-Leste", "Papua New Guinea", "Fiji", "Solomon Islands",
    "Vanuatu", "Samoa", "American Samoa", "Tonga", "Kiribati", "Tuvalu", "Nauru", "Palau",
    "Marshall Islands", "Micronesia", "Guam", "Northern Mariana Islands", "New Caledonia",
    "French Polynesia", "Wallis and Futuna", "Cook Islands", "Niue", "Tokelau",
    "Pitcairn Islands", "Norfolk Island", "Christmas Island", "Cocos (Keeling) Islands",
    "Heard Island and McDonald Islands", "Bouvet Island",
    "Antarctica (the territory South of 60 deg S)",
    "British Indian Ocean Territory", "French Southern Territories",
    "South Georgia and the South Sandwich Islands", "United States Minor Outlying Islands",
    "Svalbard & Jan Mayen Islands", "Faroe Islands", "Gibraltar", "Isle of Man", "Jersey",
    "Guernsey", "Aland Islands", "Kyrgyz Republic", "Tajikistan", "Turkmenistan",
    "Palestinian Territory", "Korea, Democratic People's Republic of",
)
# fmt: on
