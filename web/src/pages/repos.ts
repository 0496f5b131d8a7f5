// (being written) 
import type { Page } from './page.ts';
export const reposPage: Page = { title: 'reposPage', render: () => document.createTextNode('reposPage') };
export const newRepoPage: Page = { title: 'newRepoPage', render: () => document.createTextNode('newRepoPage') };
export const repoPage: Page = { title: 'repoPage', render: () => document.createTextNode('repoPage') };
