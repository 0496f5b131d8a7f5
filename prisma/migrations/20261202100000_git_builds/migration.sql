-- Git builds: fmd builds apps from git with flatpak-builder. New build states, where a git build
-- comes from, dependencies between builds, build sets, credentials for private sources,
-- sources whose pushes build, and the workers that build (with their arches).
ALTER TABLE `builds`
  MODIFY `state` ENUM('UPLOADING', 'COMMITTING', 'READY', 'FAILED', 'PURGING', 'PURGED', 'VALIDATING', 'WAITING', 'CLONING', 'BUILDING', 'CANCELLED', 'SUPERSEDED') NOT NULL DEFAULT 'UPLOADING',
  ADD COLUMN `build_set_id` INTEGER NULL,
  ADD INDEX `builds_build_set_id_idx`(`build_set_id`);

ALTER TABLE `repos` ADD COLUMN `auto_publish` BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE `build_sets` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `repo_id` INTEGER NOT NULL,
    `name` VARCHAR(255) NULL,
    `creator_token_id` VARCHAR(191) NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    INDEX `build_sets_repo_id_idx`(`repo_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `git_credentials` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `repo_id` INTEGER NOT NULL,
    `name` VARCHAR(191) NOT NULL,
    `kind` ENUM('SSH_KEY', 'HTTPS_TOKEN') NOT NULL,
    `username` VARCHAR(255) NULL,
    `secret_encrypted` TEXT NOT NULL,
    `creator_token_id` VARCHAR(191) NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    UNIQUE INDEX `git_credentials_repo_id_name_key`(`repo_id`, `name`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `git_sources` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `repo_id` INTEGER NOT NULL,
    `url` VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    `branch` VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    `manifest_path` VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    `app_id` VARCHAR(255) NULL,
    `arch` VARCHAR(32) NULL,
    `auto_publish` BOOLEAN NOT NULL DEFAULT false,
    `credential_id` INTEGER NULL,
    `webhook_secret_encrypted` TEXT NOT NULL,
    `token_jti` VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    `claims` JSON NOT NULL,
    `disabled_reason` VARCHAR(255) NULL,
    `last_push_at` DATETIME(3) NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `updated_at` DATETIME(3) NOT NULL,

    INDEX `git_sources_repo_id_idx`(`repo_id`),
    INDEX `git_sources_credential_id_idx`(`credential_id`),
    INDEX `git_sources_token_jti_idx`(`token_jti`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `build_sources` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `build_id` INTEGER NOT NULL,
    `url` VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    `git_ref` VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    `commit` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    `manifest_path` VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    `arch` VARCHAR(32) NOT NULL,
    `branch` VARCHAR(64) NULL,
    `runtime` VARCHAR(255) NULL,
    `sdk` VARCHAR(255) NULL,
    `auto_commit` BOOLEAN NOT NULL DEFAULT true,
    `auto_publish` BOOLEAN NULL,
    `claims` JSON NOT NULL,
    `credential_id` INTEGER NULL,
    `git_source_id` INTEGER NULL,
    `rebuild_of_id` INTEGER NULL,
    `active_at` DATETIME(3) NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `updated_at` DATETIME(3) NOT NULL,

    UNIQUE INDEX `build_sources_build_id_key`(`build_id`),
    INDEX `build_sources_credential_id_idx`(`credential_id`),
    INDEX `build_sources_git_source_id_git_ref_idx`(`git_source_id`, `git_ref`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `build_dependencies` (
    `build_id` INTEGER NOT NULL,
    `depends_on_id` INTEGER NOT NULL,

    INDEX `build_dependencies_depends_on_id_idx`(`depends_on_id`),
    PRIMARY KEY (`build_id`, `depends_on_id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `build_workers` (
    `id` VARCHAR(191) NOT NULL,
    `arches` JSON NOT NULL,
    `max_builds` INTEGER NOT NULL,
    `seen_at` DATETIME(3) NOT NULL,

    INDEX `build_workers_seen_at_idx`(`seen_at`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- AddForeignKey
ALTER TABLE `builds` ADD CONSTRAINT `builds_build_set_id_fkey` FOREIGN KEY (`build_set_id`) REFERENCES `build_sets`(`id`) ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `build_sets` ADD CONSTRAINT `build_sets_repo_id_fkey` FOREIGN KEY (`repo_id`) REFERENCES `repos`(`id`) ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `git_credentials` ADD CONSTRAINT `git_credentials_repo_id_fkey` FOREIGN KEY (`repo_id`) REFERENCES `repos`(`id`) ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `git_sources` ADD CONSTRAINT `git_sources_repo_id_fkey` FOREIGN KEY (`repo_id`) REFERENCES `repos`(`id`) ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `git_sources` ADD CONSTRAINT `git_sources_credential_id_fkey` FOREIGN KEY (`credential_id`) REFERENCES `git_credentials`(`id`) ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `build_sources` ADD CONSTRAINT `build_sources_build_id_fkey` FOREIGN KEY (`build_id`) REFERENCES `builds`(`id`) ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `build_sources` ADD CONSTRAINT `build_sources_credential_id_fkey` FOREIGN KEY (`credential_id`) REFERENCES `git_credentials`(`id`) ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `build_sources` ADD CONSTRAINT `build_sources_git_source_id_fkey` FOREIGN KEY (`git_source_id`) REFERENCES `git_sources`(`id`) ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `build_dependencies` ADD CONSTRAINT `build_dependencies_build_id_fkey` FOREIGN KEY (`build_id`) REFERENCES `builds`(`id`) ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE `build_dependencies` ADD CONSTRAINT `build_dependencies_depends_on_id_fkey` FOREIGN KEY (`depends_on_id`) REFERENCES `builds`(`id`) ON DELETE CASCADE ON UPDATE CASCADE;
