-- Job lanes: a job of a laned kind (git-build: the build's arch) is run only by workers that
-- serve its lane, so a build goes to a worker that builds its arch.
ALTER TABLE `jobs` ADD COLUMN `lane` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;
