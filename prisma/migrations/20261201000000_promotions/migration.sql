-- AlterTable
ALTER TABLE `repos` ADD COLUMN `auto_promote` JSON NULL;

-- AlterTable
ALTER TABLE `builds` ADD COLUMN `published_refs` JSON NULL;

-- CreateTable
CREATE TABLE `promotions` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `build_id` INTEGER NOT NULL,
    `source_repo_id` INTEGER NOT NULL,
    `target_repo_id` INTEGER NOT NULL,
    `state` ENUM('PROMOTING', 'PROMOTED', 'FAILED', 'SKIPPED') NOT NULL DEFAULT 'PROMOTING',
    `auto` BOOLEAN NOT NULL DEFAULT false,
    `reason` TEXT NULL,
    `refs` JSON NULL,
    `job_id` INTEGER NULL,
    `active_key` VARCHAR(64) NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `updated_at` DATETIME(3) NOT NULL,

    UNIQUE INDEX `promotions_active_key_key`(`active_key`),
    INDEX `promotions_build_id_idx`(`build_id`),
    INDEX `promotions_source_repo_id_idx`(`source_repo_id`),
    INDEX `promotions_target_repo_id_state_idx`(`target_repo_id`, `state`),
    INDEX `promotions_job_id_idx`(`job_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- AddForeignKey
ALTER TABLE `promotions` ADD CONSTRAINT `promotions_build_id_fkey` FOREIGN KEY (`build_id`) REFERENCES `builds`(`id`) ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `promotions` ADD CONSTRAINT `promotions_source_repo_id_fkey` FOREIGN KEY (`source_repo_id`) REFERENCES `repos`(`id`) ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `promotions` ADD CONSTRAINT `promotions_job_id_fkey` FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `promotions` ADD CONSTRAINT `promotions_target_repo_id_fkey` FOREIGN KEY (`target_repo_id`) REFERENCES `repos`(`id`) ON DELETE CASCADE ON UPDATE CASCADE;

-- Builds published before: what their publish job reported (app and runtime refs).
UPDATE `builds` AS b SET `published_refs` = (
    SELECT JSON_EXTRACT(j.`results`, '$.refs') FROM `jobs` AS j
    WHERE j.`build_id` = b.`id` AND j.`kind` = 'publish' AND j.`status` = 'ENDED'
    ORDER BY j.`id` DESC LIMIT 1
) WHERE b.`published_state` = 'PUBLISHED';
