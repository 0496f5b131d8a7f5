// (being written) 
import type { Page } from './page.ts';
export const jobsPage: Page = { title: 'jobsPage', render: () => document.createTextNode('jobsPage') };
export const jobPage: Page = { title: 'jobPage', render: () => document.createTextNode('jobPage') };
