-- Webhooks: receivers of fmd's events, and one row per delivery attempt.
-- CreateTable
CREATE TABLE `webhooks` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `repo_id` INTEGER NULL,
    `url` VARCHAR(2048) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    `secret_encrypted` TEXT NOT NULL,
    `events` JSON NOT NULL,
    `enabled` BOOLEAN NOT NULL DEFAULT true,
    `description` VARCHAR(255) NULL,
    `creator_token_id` VARCHAR(191) NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `updated_at` DATETIME(3) NOT NULL,

    INDEX `webhooks_repo_id_idx`(`repo_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `webhook_deliveries` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `webhook_id` INTEGER NOT NULL,
    `delivery_id` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    `event` VARCHAR(64) NOT NULL,
    `payload` MEDIUMTEXT NOT NULL,
    `attempt` INTEGER NOT NULL,
    `state` ENUM('PENDING', 'SUCCEEDED', 'RETRYING', 'FAILED') NOT NULL DEFAULT 'PENDING',
    `status_code` INTEGER NULL,
    `error` TEXT NULL,
    `response_body` TEXT NULL,
    `duration_ms` INTEGER NULL,
    `next_retry_at` DATETIME(3) NULL,
    `job_id` INTEGER NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `finished_at` DATETIME(3) NULL,

    UNIQUE INDEX `webhook_deliveries_delivery_id_attempt_key`(`delivery_id`, `attempt`),
    INDEX `webhook_deliveries_webhook_id_id_idx`(`webhook_id`, `id`),
    INDEX `webhook_deliveries_created_at_idx`(`created_at`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- AddForeignKey
ALTER TABLE `webhooks` ADD CONSTRAINT `webhooks_repo_id_fkey` FOREIGN KEY (`repo_id`) REFERENCES `repos`(`id`) ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `webhook_deliveries` ADD CONSTRAINT `webhook_deliveries_webhook_id_fkey` FOREIGN KEY (`webhook_id`) REFERENCES `webhooks`(`id`) ON DELETE CASCADE ON UPDATE CASCADE;
