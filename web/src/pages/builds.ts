// (being written) 
import type { Page } from './page.ts';
export const buildsPage: Page = { title: 'buildsPage', render: () => document.createTextNode('buildsPage') };
export const newBuildPage: Page = { title: 'newBuildPage', render: () => document.createTextNode('newBuildPage') };
export const buildPage: Page = { title: 'buildPage', render: () => document.createTextNode('buildPage') };
