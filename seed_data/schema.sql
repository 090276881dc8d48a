-- The spoof Pinterest database: the three tables the original project reads from RDS.
-- One event `i` = pinterest_data.`index` = geolocation_data.ind = user_data.ind.
-- Data columns are nullable like the original tables; the generator never writes NULL.
-- The loader creates the three under staging names, fills them and swaps them in with one
-- RENAME TABLE, so readers never see a half-loaded table.

CREATE TABLE IF NOT EXISTS `pinterest_data` (
  `index` INT NOT NULL,
  `unique_id` CHAR(36) NULL,
  `title` TEXT NULL,
  `description` TEXT NULL,
  `poster_name` VARCHAR(255) NULL,
  `follower_count` VARCHAR(32) NULL,
  `tag_list` TEXT NULL,
  `is_image_or_video` VARCHAR(64) NULL,
  `image_src` TEXT NULL,
  `downloaded` INT NULL,
  `save_location` VARCHAR(255) NULL,
  `category` VARCHAR(64) NULL,
  PRIMARY KEY (`index`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `geolocation_data` (
  `ind` INT NOT NULL,
  `timestamp` DATETIME NULL,
  `latitude` DOUBLE NULL,
  `longitude` DOUBLE NULL,
  `country` VARCHAR(255) NULL,
  PRIMARY KEY (`ind`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `user_data` (
  `ind` INT NOT NULL,
  `first_name` VARCHAR(255) NULL,
  `last_name` VARCHAR(255) NULL,
  `age` INT NULL,
  `date_joined` DATETIME NULL,
  PRIMARY KEY (`ind`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- What was loaded, so `make seed` with the same size and seed is a no-op. Not one of the
-- three source tables: the emulator never replays it.
CREATE TABLE IF NOT EXISTS `_seed_meta` (
  `id` TINYINT NOT NULL,
  `size` INT NOT NULL,
  `seed` BIGINT NOT NULL,
  `generator_version` INT NOT NULL,
  `rates` CHAR(16) NOT NULL,
  `checksum` CHAR(64) NOT NULL,
  `seconds` DOUBLE NOT NULL,
  `loaded_at` DATETIME NOT NULL, -- UTC
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
