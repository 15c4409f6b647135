// Runs a program (by id) with BPF_PROG_TEST_RUN `rounds` times × `repeat`, from a worker thread,
// so that it runs in the kernel while the main thread works on the same map.
import { parentPort, workerData } from 'node:worker_threads';
import { BpfProgram } from 'bpfmap';

const { id, rounds, repeat } = workerData;
const prog = BpfProgram.fromId(id);
let runs = 0;
for (let i = 0; i < rounds; i++) {
  prog.testRun({ data: new Uint8Array(64), repeat });
  runs += repeat;
}
prog.close();
parentPort.postMessage({ runs });
