// The same real-server helper the SDK's tests use (see its header).
export { startTestServer, type TestServer } from '../../sdk/test/server.ts';
