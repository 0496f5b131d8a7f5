// (being written) 
import type { Page } from './page.ts';
export const dashboardPage: Page = { title: 'dashboardPage', render: () => document.createTextNode('dashboardPage') };
