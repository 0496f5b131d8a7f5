// (being written)
import type { Page } from './page.ts';
export const tokensPage: Page = { title: 'Tokens', render: () => document.createTextNode('tokens') };
