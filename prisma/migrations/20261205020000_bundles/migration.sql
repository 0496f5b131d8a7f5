-- Bundles (issue 14): single-file .flatpak bundles of a build's or a published repo's ref, made by a job and cached.
-- CreateTable
CREATE TABLE `bundles` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `key` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    `build_id` INTEGER NULL,
    `repo` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    `ref` VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    `commit` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    `token_type` INTEGER NOT NULL DEFAULT 0,
    `state` ENUM('QUEUED', 'MAKING', 'READY', 'FAILED') NOT NULL DEFAULT 'QUEUED',
    `error` TEXT NULL,
    `size` BIGINT NULL,
    `attempt` INTEGER NOT NULL DEFAULT 0,
    `job_id` INTEGER NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `updated_at` DATETIME(3) NOT NULL,
    `ready_at` DATETIME(3) NULL,

    UNIQUE INDEX `bundles_key_key`(`key`),
    INDEX `bundles_build_id_idx`(`build_id`),
    INDEX `bundles_repo_idx`(`repo`),
    INDEX `bundles_created_at_idx`(`created_at`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
