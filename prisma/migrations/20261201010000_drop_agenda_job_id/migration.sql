-- AlterTable
ALTER TABLE `jobs` DROP COLUMN `agenda_job_id`;

-- The job store (jobsTableSql() in server/src/jobs/mariadb-backend/schema.ts): a job's Agenda
-- jobs are found by the fmd job id in their data.
ALTER TABLE `agenda_jobs`
  ADD COLUMN `data_job_id` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin AS (LEFT(JSON_VALUE(`data`, '$.jobId'), 64)) VIRTUAL AFTER `data`,
  ADD KEY `agenda_jobs_data_job_id` (`data_job_id`);
