-- Statistics (issue 14): downloads per day, repo, ref and kind, and how far nginx access logs were read.
-- CreateTable
CREATE TABLE `download_stats` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `day` DATE NOT NULL,
    `repo_id` INTEGER NOT NULL,
    `ref` VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    `app_id` VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    `kind` ENUM('INSTALL', 'UPDATE') NOT NULL,
    `count` INTEGER NOT NULL DEFAULT 0,

    UNIQUE INDEX `download_stats_day_repo_id_ref_kind_key`(`day`, `repo_id`, `ref`, `kind`),
    INDEX `download_stats_repo_id_app_id_day_idx`(`repo_id`, `app_id`, `day`),
    INDEX `download_stats_day_idx`(`day`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `log_import_offsets` (
    `file_key` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    `path` VARCHAR(1024) NOT NULL,
    `offset` BIGINT NOT NULL,
    `updated_at` DATETIME(3) NOT NULL,

    PRIMARY KEY (`file_key`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- AddForeignKey
ALTER TABLE `download_stats` ADD CONSTRAINT `download_stats_repo_id_fkey` FOREIGN KEY (`repo_id`) REFERENCES `repos`(`id`) ON DELETE CASCADE ON UPDATE CASCADE;
