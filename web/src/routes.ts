// The dashboard's URLs and the page each shows.
import type { Route } from './router.ts';
import type { Page } from './pages/page.ts';
import { dashboardPage } from './pages/dashboard.ts';
import { buildPage, buildsPage, newBuildPage } from './pages/builds.ts';
import { jobPage, jobsPage } from './pages/jobs.ts';
import { newRepoPage, repoPage, reposPage } from './pages/repos.ts';
import { keyPage, keysPage } from './pages/keys.ts';
import { tokensPage } from './pages/tokens.ts';
import { auditPage } from './pages/audit.ts';
import { webhooksPage } from './pages/webhooks.ts';
import { appPage, catalogPage } from './pages/catalog.ts';
import { profilePage, userPage, usersPage } from './pages/users.ts';
import { h, link } from './ui.ts';

export const routes: Route<Page>[] = [
  { pattern: '/', page: dashboardPage },
  { pattern: '/builds', page: buildsPage },
  { pattern: '/builds/new', page: newBuildPage },
  { pattern: '/builds/:number', page: buildPage },
  { pattern: '/jobs', page: jobsPage },
  { pattern: '/jobs/:number', page: jobPage },
  { pattern: '/repos', page: reposPage },
  { pattern: '/repos/new', page: newRepoPage },
  { pattern: '/repos/:name', page: repoPage },
  { pattern: '/catalog', page: catalogPage },
  { pattern: '/catalog/app', page: appPage },
  { pattern: '/keys', page: keysPage },
  { pattern: '/keys/:id', page: keyPage },
  { pattern: '/tokens', page: tokensPage },
  { pattern: '/audit', page: auditPage },
  { pattern: '/webhooks', page: webhooksPage },
  { pattern: '/profile', page: profilePage },
  { pattern: '/users', page: usersPage },
  { pattern: '/users/:name', page: userPage },
];

export const notFound: Page = {
  title: 'Not found',
  render: () => h('p', {}, 'There is no page at this address. ', link('/', 'Go to the dashboard'), '.'),
};
