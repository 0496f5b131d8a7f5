/** The events a webhook may subscribe to (the server's list; it refuses others). */
export const webhookEventNames = ['build.state', 'build.published', 'build.failed', 'repo.updated', 'repo.fsck_failed'];
