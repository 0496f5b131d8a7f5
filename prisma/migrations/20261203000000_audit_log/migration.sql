-- Audit log: one row per GraphQL mutation root field and per REST write, with identifiers only.
-- CreateTable
CREATE TABLE `audit_log` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `transport` VARCHAR(16) NOT NULL,
    `action` VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    `token_id` VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    `token_name` VARCHAR(255) NULL,
    `subject` VARCHAR(255) NULL,
    `target` VARCHAR(512) NULL,
    `result` VARCHAR(64) NOT NULL,
    `request_id` VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    `client_ip` VARCHAR(64) NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    INDEX `audit_log_created_at_idx`(`created_at`),
    INDEX `audit_log_action_idx`(`action`),
    INDEX `audit_log_token_id_idx`(`token_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
