-- Repo names compare case-sensitively, as in flat-manager: under the default collation a token
-- for `STABLE` matched the repo `stable`. The columns keyed by a repo name follow, and so do
-- token ids, since a revocation names exactly one jti.
ALTER TABLE `repos` MODIFY `name` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;

ALTER TABLE `jobs` MODIFY `repo` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;

ALTER TABLE `promotions` MODIFY `active_key` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;

ALTER TABLE `api_tokens`
  MODIFY `jti` VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  MODIFY `parent_jti` VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;

-- The tokens derived from a token (who may see and revoke them) are looked up by parent.
CREATE INDEX `api_tokens_parent_jti_idx` ON `api_tokens`(`parent_jti`);
