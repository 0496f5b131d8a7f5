-- CreateTable
CREATE TABLE `jobs` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `kind` VARCHAR(32) NOT NULL,
    `status` ENUM('NEW', 'STARTED', 'ENDED', 'BROKEN') NOT NULL DEFAULT 'NEW',
    `repo` VARCHAR(64) NULL,
    `contents` JSON NOT NULL,
    `results` JSON NULL,
    `error` TEXT NULL,
    `progress` DOUBLE NULL,
    `progress_message` VARCHAR(255) NULL,
    `attempts` INTEGER NOT NULL DEFAULT 0,
    `max_attempts` INTEGER NOT NULL DEFAULT 1,
    `cancel_requested` BOOLEAN NOT NULL DEFAULT false,
    `log_size` INTEGER NOT NULL DEFAULT 0,
    `agenda_job_id` VARCHAR(64) NULL,
    `start_after` DATETIME(3) NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `started_at` DATETIME(3) NULL,
    `finished_at` DATETIME(3) NULL,
    `updated_at` DATETIME(3) NOT NULL,
    `depends_on_id` INTEGER NULL,
    `build_id` INTEGER NULL,

    INDEX `jobs_status_kind_idx`(`status`, `kind`),
    INDEX `jobs_repo_status_idx`(`repo`, `status`),
    INDEX `jobs_depends_on_id_idx`(`depends_on_id`),
    INDEX `jobs_build_id_idx`(`build_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `job_logs` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `job_id` INTEGER NOT NULL,
    `offset` INTEGER NOT NULL,
    `text` TEXT NOT NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    UNIQUE INDEX `job_logs_job_id_offset_key`(`job_id`, `offset`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `signing_keys` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `name` VARCHAR(191) NOT NULL,
    `fingerprint` VARCHAR(64) NOT NULL,
    `key_id` VARCHAR(16) NOT NULL,
    `user_ids` JSON NOT NULL,
    `algorithm` VARCHAR(64) NOT NULL,
    `public_key_armored` TEXT NOT NULL,
    `private_key_encrypted` TEXT NOT NULL,
    `expires_at` DATETIME(3) NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    UNIQUE INDEX `signing_keys_name_key`(`name`),
    UNIQUE INDEX `signing_keys_fingerprint_key`(`fingerprint`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `repos` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `name` VARCHAR(64) NOT NULL,
    `status` ENUM('ACTIVE', 'DELETING') NOT NULL DEFAULT 'ACTIVE',
    `title` VARCHAR(255) NULL,
    `comment` VARCHAR(255) NULL,
    `description` TEXT NULL,
    `homepage` VARCHAR(512) NULL,
    `icon` VARCHAR(512) NULL,
    `collection_id` VARCHAR(191) NULL,
    `deploy_collection_id` BOOLEAN NOT NULL DEFAULT true,
    `suggested_remote_name` VARCHAR(64) NULL,
    `default_branch` VARCHAR(64) NULL,
    `redirect_url` VARCHAR(512) NULL,
    `base_url` VARCHAR(512) NULL,
    `runtime_repo_url` VARCHAR(512) NULL,
    `subsets` JSON NOT NULL,
    `delta_settings` JSON NOT NULL,
    `hooks` JSON NOT NULL,
    `default_token_type` INTEGER NOT NULL DEFAULT 0,
    `auth_required_token_types` JSON NOT NULL,
    `key_id` INTEGER NULL,
    `previous_key_id` INTEGER NULL,
    `previous_key_until` DATETIME(3) NULL,
    `parent_id` INTEGER NULL,
    `summary_updated_at` DATETIME(3) NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `updated_at` DATETIME(3) NOT NULL,

    UNIQUE INDEX `repos_name_key`(`name`),
    INDEX `repos_key_id_idx`(`key_id`),
    INDEX `repos_previous_key_id_idx`(`previous_key_id`),
    INDEX `repos_parent_id_idx`(`parent_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `builds` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `repo_id` INTEGER NOT NULL,
    `app_id` VARCHAR(255) NULL,
    `state` ENUM('UPLOADING', 'COMMITTING', 'READY', 'FAILED', 'PURGING', 'PURGED', 'VALIDATING') NOT NULL DEFAULT 'UPLOADING',
    `published_state` ENUM('UNPUBLISHED', 'PUBLISHING', 'PUBLISHED', 'FAILED') NOT NULL DEFAULT 'UNPUBLISHED',
    `state_reason` TEXT NULL,
    `public_download` BOOLEAN NOT NULL DEFAULT true,
    `build_log_url` VARCHAR(1024) NULL,
    `end_of_life` TEXT NULL,
    `end_of_life_rebase` VARCHAR(255) NULL,
    `token_type` INTEGER NULL,
    `extra_ids` JSON NOT NULL,
    `creator_token_id` VARCHAR(191) NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `updated_at` DATETIME(3) NOT NULL,

    INDEX `builds_repo_id_state_idx`(`repo_id`, `state`),
    INDEX `builds_app_id_idx`(`app_id`),
    INDEX `builds_created_at_idx`(`created_at`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `build_refs` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `build_id` INTEGER NOT NULL,
    `ref_name` VARCHAR(255) NOT NULL,
    `commit` VARCHAR(64) NOT NULL,
    `build_log_url` VARCHAR(1024) NULL,

    UNIQUE INDEX `build_refs_build_id_ref_name_key`(`build_id`, `ref_name`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `checks` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `build_id` INTEGER NOT NULL,
    `name` VARCHAR(128) NOT NULL,
    `status` ENUM('PENDING', 'PASSED', 'FAILED', 'REVIEW_REQUIRED') NOT NULL DEFAULT 'PENDING',
    `job_id` INTEGER NULL,
    `results` JSON NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `updated_at` DATETIME(3) NOT NULL,

    UNIQUE INDEX `checks_build_id_name_key`(`build_id`, `name`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- AddForeignKey
ALTER TABLE `jobs` ADD CONSTRAINT `jobs_depends_on_id_fkey` FOREIGN KEY (`depends_on_id`) REFERENCES `jobs`(`id`) ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `jobs` ADD CONSTRAINT `jobs_build_id_fkey` FOREIGN KEY (`build_id`) REFERENCES `builds`(`id`) ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `job_logs` ADD CONSTRAINT `job_logs_job_id_fkey` FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `repos` ADD CONSTRAINT `repos_key_id_fkey` FOREIGN KEY (`key_id`) REFERENCES `signing_keys`(`id`) ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `repos` ADD CONSTRAINT `repos_previous_key_id_fkey` FOREIGN KEY (`previous_key_id`) REFERENCES `signing_keys`(`id`) ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `repos` ADD CONSTRAINT `repos_parent_id_fkey` FOREIGN KEY (`parent_id`) REFERENCES `repos`(`id`) ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `builds` ADD CONSTRAINT `builds_repo_id_fkey` FOREIGN KEY (`repo_id`) REFERENCES `repos`(`id`) ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `build_refs` ADD CONSTRAINT `build_refs_build_id_fkey` FOREIGN KEY (`build_id`) REFERENCES `builds`(`id`) ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `checks` ADD CONSTRAINT `checks_build_id_fkey` FOREIGN KEY (`build_id`) REFERENCES `builds`(`id`) ON DELETE CASCADE ON UPDATE CASCADE;
