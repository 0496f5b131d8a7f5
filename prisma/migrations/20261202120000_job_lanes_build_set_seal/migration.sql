-- Job lanes: a job of a laned kind (git-build: the build's arch) is run only by workers that
-- serve its lane, so a build goes to a worker that builds its arch.
ALTER TABLE `jobs` ADD COLUMN `lane` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;

-- A build set's builds are created one by one; none starts before the whole set exists.
ALTER TABLE `build_sets` ADD COLUMN `sealed_at` DATETIME(3) NULL;
