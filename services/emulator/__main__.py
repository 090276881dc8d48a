import sys

from services.emulator.cli import main

sys.exit(main())
