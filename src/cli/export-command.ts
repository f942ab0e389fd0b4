// `omniformer export`: a trained run as one standalone ONNX file (see src/pipeline/export.ts).
import { UsageError } from './args.js';
import type { Command } from './main.js';

function mb(bytes: number): string { return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MB` : `${(bytes / 1024).toFixed(1)} KB`; }

export const EXPORT_COMMAND: Command = {
  name: 'export',
  summary: 'Export a trained run (tokenizer, encoder, head) as one standalone ONNX file that plain onnxruntime runs, with a JSON sidecar.',
  usage: 'omniformer export --run DIR --onnx OUT.onnx [--weights best|last] [--batch-size N | --dynamic-batch] [--external-data] [--example FILE] [--verify] [--json]',
  options: {
    run: { type: 'string', description: 'run folder written by omniformer train', valueName: 'DIR' },
    onnx: { type: 'string', description: 'the .onnx file to write (its sidecar goes to OUT.onnx.json, external data to OUT.onnx.data)', valueName: 'OUT.onnx' },
    weights: { type: 'string', description: 'best (best.safetensors) or last (checkpoint.safetensors); default best, else last', valueName: 'best|last' },
    'batch-size': { type: 'number', description: 'the exported model\'s static batch size (default 1)', valueName: 'N' },
    'dynamic-batch': { type: 'boolean', description: 'a symbolic batch dimension (\'batch\'): the model takes any batch size' },
    'external-data': { type: 'boolean', description: 'store the weights in OUT.onnx.data (automatic when they exceed 2 GB)' },
    example: { type: 'string', description: 'an input file (as predict --input) fixing the input shape, for point-cloud and time-series classification/regression runs', valueName: 'FILE' },
    verify: { type: 'boolean', description: 'run the written file in a fresh onnxruntime session and compare it with omniformer\'s own outputs' },
    json: { type: 'boolean', description: 'print one JSON object' },
  },
  examples: [
    'omniformer export --run runs/img --onnx img.onnx',
    'omniformer export --run runs/img --onnx img.onnx --dynamic-batch --verify',
    'omniformer export --run runs/adult --onnx adult.onnx --batch-size 32 --weights last --verify',
    'omniformer export --run runs/big --onnx big.onnx --external-data',
    'omniformer export --run runs/ts --onnx ts.onnx --example series.csv',
  ],
  details: [
    'The graph starts after the tokenizer\'s host-side preparation and ends with the head. Inputs are named by modality',
    '(images, clips, spectra, fbank, grouped/centres, x/marks, categorical/numeric/numericMissing, ids/paddingMask, graph tensors);',
    'outputs: logits + probabilities (classification), prediction in target units (regression), forecast in series units (forecasting).',
    'OUT.onnx.json lists every input and output (name, dtype, shape), the labels and the normalisation. prepareRunInputs() of the',
    'library turns raw files into the exact input tensors. Shapes are static (pad the last batch by repeating a sample) unless',
    '--dynamic-batch: the model is traced at batch 2 and 3 and the difference makes the batch dimension symbolic; a model whose',
    'graph depends on the batch in another way is refused with the node or constant named.',
  ].join('\n'),
  async run(o) {
    const run = o.run as string | undefined, onnx = o.onnx as string | undefined;
    if (!run) throw new UsageError('missing required option --run');
    if (!onnx) throw new UsageError('missing required option --onnx');
    const weights = o.weights as string | undefined;
    if (weights !== undefined && weights !== 'best' && weights !== 'last') throw new UsageError(`--weights must be best or last, got '${weights}'`);
    const bs = o['batch-size'] as number | undefined, dynamic = Boolean(o['dynamic-batch']);
    if (bs !== undefined && (!Number.isInteger(bs) || bs < 1)) throw new UsageError(`--batch-size must be a positive integer, got ${bs}`);
    if (bs !== undefined && dynamic) throw new UsageError('--batch-size and --dynamic-batch exclude each other (a dynamic-batch model takes any batch size)');
    const { exportRunOnnx } = await import('../pipeline/export.js');
    const r = await exportRunOnnx(run, onnx, {
      weights: weights as 'best' | 'last' | undefined, ...(bs !== undefined ? { batchSize: bs } : {}), dynamicBatch: dynamic, externalData: Boolean(o['external-data']),
      example: o.example as string | undefined, verify: Boolean(o.verify),
    });
    if (o.json) { console.log(JSON.stringify(r)); return 0; }
    const sig = (l: { name: string; dtype: string; shape: (number | string)[] }[]): string => l.map((s) => `${s.name} ${s.dtype} [${s.shape.join(', ')}]`).join(', ');
    console.log(`wrote ${r.onnx} (${mb(r.modelBytes)})${r.externalData ? ` and ${r.externalData} (${mb(r.dataBytes)})` : ''}, sidecar ${r.sidecar}`);
    console.log(`  inputs:  ${sig(r.inputs)}`);
    console.log(`  outputs: ${sig(r.outputs)}`);
    if (r.verified) console.log(`  verified in a fresh onnxruntime session: max |error| ${Object.entries(r.verified).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
    return 0;
  },
};
