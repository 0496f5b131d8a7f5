-- App ids compare exactly: under the default collation a build of `org.Example.App` matched the
-- token prefix `org.example`, in lists (the database) but not in subscriptions and single-build
-- checks (in memory, like flat-manager). The index on builds.app_id is rebuilt with the column.
ALTER TABLE `builds` MODIFY `app_id` VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;

ALTER TABLE `git_sources` MODIFY `app_id` VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;
