/** Worker thread of the upload benchmark: runs the fake AWS and answers bench/fakeS3.ts's calls. */
import { parentPort } from 'worker_threads';
import { LocalAws } from '../testing/localAws';
import { applyCall, WorkerReady, WorkerReply, WorkerRequest } from './fakeS3';

async function serve(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('bench/fakeAwsWorker.js runs only as a worker thread');
  const fake = await LocalAws.start();
  port.on('message', (request: WorkerRequest) => {
    const reply = (message: WorkerReply) => port.postMessage(message);
    if ('stop' in request) {
      fake.stop().then(
        () => reply({ id: request.id, result: undefined }),
        (error: unknown) => reply({ id: request.id, error: String(error) }),
      );
      return;
    }
    try {
      reply({ id: request.id, result: applyCall(fake, request.call) });
    } catch (error) {
      reply({ id: request.id, error: error instanceof Error ? error.message : String(error) });
    }
  });
  const ready: WorkerReady = { ready: { endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials } };
  port.postMessage(ready);
}

serve().catch((error: unknown) => {
  throw error instanceof Error ? error : new Error(String(error));
});
