import { startTestServer } from './test/server.ts';
const s = await startTestServer();
console.log(JSON.stringify({ url: s.url, token: s.adminToken }));
setInterval(() => {}, 1 << 30);
