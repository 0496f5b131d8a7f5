// (being written) 
import type { Page } from './page.ts';
export const keysPage: Page = { title: 'keysPage', render: () => document.createTextNode('keysPage') };
export const keyPage: Page = { title: 'keyPage', render: () => document.createTextNode('keyPage') };
