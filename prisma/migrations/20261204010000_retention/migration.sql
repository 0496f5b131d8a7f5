-- Retention (issue 13): per-repo retention settings, repeating jobs, and a unique key per job.
-- AlterTable
ALTER TABLE `repos` ADD COLUMN `purge_builds_after_days` INTEGER NULL,
    ADD COLUMN `prune_interval_secs` INTEGER NULL,
    ADD COLUMN `fsck_interval_secs` INTEGER NULL,
    ADD COLUMN `retention_dry_run` BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE `jobs` ADD COLUMN `unique_key` VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;

-- CreateIndex
CREATE UNIQUE INDEX `jobs_unique_key_key` ON `jobs`(`unique_key`);

-- CreateTable
CREATE TABLE `job_schedules` (
    `key` VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    `runs` INTEGER NOT NULL DEFAULT 0,
    `job_id` INTEGER NULL,
    `updated_at` DATETIME(3) NOT NULL,

    INDEX `job_schedules_job_id_idx`(`job_id`),
    PRIMARY KEY (`key`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
