// Per-modality training recipes (Meta-Transformer spec §3), as defaults for the Trainer and the CLI.
//
// Every recipe uses AdamW with a linear warm-up and a cosine decay (one schedule for the whole library); the
// optimizer settings that the released recipes fix (weight decay, betas, gradient clipping, label smoothing,
// head pooling) follow the spec. Epochs, batch sizes and learning rates are scaled for a CPU: the released
// runs are hundreds of epochs on GPUs (`reference` records what they used), while these defaults aim at a
// short run that still converges on a small data set — a few tens of epochs at a learning rate raised to
// about 1e-3 (a short schedule needs a larger step than a 300-epoch one). Override any field (CLI: --epochs,
// --batch-size, --lr, ...).
//
// Pooling. The released heads read the CLS token (hyperspectral, X-ray, graph) or a mean; they rely on a
// *pretrained* encoder to gather information into those tokens. With a randomly initialised frozen encoder
// (what `--encoder tiny` gives: timm init is close to the identity), CLS/mean pooling of step- or band-wise
// linear embeddings carries almost no class information, so modalities whose tokens are such embeddings pool
// with max ('max') or [CLS, max, mean] ('concat', a superset of the CLS head): time series, IMU, audio,
// hyperspectral, graph, tabular. Measured on small synthetic sets (3 classes, 60 samples) with the tiny frozen
// encoder: hyperspectral CLS 0.33 -> concat 1.0 (60 epochs), graph mean 0.67 -> concat 0.83 / max 1.0, audio
// mean 0.67 -> max 1.0, series mean 0.39 -> max 0.89. Images (image, infrared, X-ray) pool with 'concat' too,
// which keeps the released CLS head as a part: measured on scikit-learn's digits (8x8, patch 2, 1,078 training
// images, frozen tiny encoder, 15 epochs) CLS 68.8 % -> concat 97.8 %, and on a 2,083-image Fashion-MNIST subset
// 80.6 % frozen with concat. Video and text keep the released pooling.
import type { PoolMode } from '../heads/pooling.js';

export type TaskKind = 'classification' | 'regression' | 'forecasting' | 'segmentation';
export const TASK_KINDS: readonly TaskKind[] = ['classification', 'regression', 'forecasting', 'segmentation'];

export interface HeadRecipe {
  /** Pooling of the encoder tokens for pooled heads. */
  pool: PoolMode;
  /** LayerNorm on the pooled vector (timm norm / fc_norm / the hyperspectral and audio heads). */
  norm: boolean;
  /** Hidden widths of an openpoints-style MLP head (BatchNorm + ReLU + dropout); none = one Linear. */
  hidden?: number[];
  dropout?: number;
}

export interface Recipe {
  /** Base learning rate (AdamW), after warm-up. */
  lr: number;
  weightDecay: number;
  betas: [number, number];
  /** Epochs of linear warm-up from 0 (rounded to steps; capped below the total). */
  warmupEpochs: number;
  /** Learning rate at the end of the cosine decay. */
  minLr: number;
  epochs: number;
  batchSize: number;
  /** Cross-entropy label smoothing (classification). */
  labelSmoothing: number;
  /** Global gradient-norm clipping (none when undefined). */
  clipGradNorm?: number;
  /** Early stopping: epochs without improvement of `monitor` on the validation set (0 = off). */
  patience: number;
  /** Validation metric that selects the best epoch and drives early stopping ('loss', 'accuracy', 'mae', ...). */
  monitor: string;
  /** Regression / forecasting loss. */
  regressionLoss: 'mse' | 'l1';
  head: HeadRecipe;
  /** The released recipe this one is scaled from (spec §3), for documentation and reports. */
  reference: string;
}

type RecipeTable = Record<string, Recipe>;

const base: Omit<Recipe, 'reference' | 'head'> = {
  lr: 1e-3, weightDecay: 0.05, betas: [0.9, 0.999], warmupEpochs: 1, minLr: 1e-6, epochs: 20, batchSize: 32,
  labelSmoothing: 0, patience: 0, monitor: 'accuracy', regressionLoss: 'mse',
};

const imageLike = (reference: string): Recipe => ({
  ...base, weightDecay: 0, head: { pool: 'concat', norm: true },
  reference,
});

/** Classification defaults per modality (regression and forecasting adjust them, see `recipeFor`). */
export const RECIPES: RecipeTable = {
  'point-cloud': {
    ...base, warmupEpochs: 0, clipGradNorm: 1, labelSmoothing: 0.2,
    head: { pool: 'concat', norm: false, hidden: [256, 256], dropout: 0.5 },
    reference: 'ModelNet-40: AdamW lr 5e-4, wd 0.05, cosine to 1e-6, no warm-up, grad-clip 1, label smoothing 0.2, 300 epochs, batch 32; head [CLS, max, mean] -> MLP 256-256 (BN, ReLU, dropout 0.5)',
  },
  audio: {
    ...base, weightDecay: 5e-7, betas: [0.95, 0.999],
    head: { pool: 'max', norm: true },
    reference: 'Speech Commands V2: Adam lr 2e-4, wd 5e-7, betas (0.95, 0.999), x0.85 per epoch from epoch 5, 200 epochs, batch 128, BCE on mixup targets; head LayerNorm + Linear on the mean of the first two patch tokens',
  },
  'time-series': {
    ...base, weightDecay: 0, head: { pool: 'max', norm: true },
    reference: 'ETTh1/Traffic/Weather/Exchange forecasting: Adam lr 1e-4, lr x0.5 per epoch, MSE, early stopping patience 3, 10 epochs, batch 32; TSLib one-layer decoder head',
  },
  imu: {
    ...base, weightDecay: 0, head: { pool: 'max', norm: true },
    reference: 'not released (Ego4D); the time-series tokenizer and recipe',
  },
  hyperspectral: {
    ...base, weightDecay: 0, epochs: 30, batchSize: 64, head: { pool: 'concat', norm: true },
    reference: 'Indian Pines: Adam lr 5e-4, wd 0, StepLR(epochs/10, 0.9), 1400 epochs, batch 64; head LayerNorm + Linear on the CLS token',
  },
  image: imageLike('not released (ImageNet); as the X-ray recipe: CLS -> LayerNorm -> Linear'),
  infrared: imageLike('not released (RegDB); as the X-ray recipe'),
  xray: imageLike('Chest X-ray TB: Adam lr 5e-4, wd 0, 20 epochs; timm ViT-B/16 head on the CLS token after the final norm'),
  video: {
    ...base, lr: 5e-4, batchSize: 8, epochs: 10, labelSmoothing: 0.1,
    head: { pool: 'mean', norm: true },
    reference: 'Kinetics-400: AdamW lr 7e-4 x batch/256, wd 0.05, warm-up 5 epochs, cosine to 1e-6, label smoothing 0.1 (+ mixup/cutmix), 90 epochs; mean pool -> fc_norm -> Linear',
  },
  tabular: {
    ...base, weightDecay: 0, epochs: 30, batchSize: 64, patience: 5, monitor: 'loss',
    head: { pool: 'concat', norm: true },
    reference: 'Adult / Bank Marketing: Adam lr 1e-3, wd 0, ReduceLROnPlateau, early stopping on val loss (patience 30), 200 epochs max, batch 128, BCE',
  },
  graph: {
    ...base, weightDecay: 0.1, clipGradNorm: 5, regressionLoss: 'l1',
    head: { pool: 'concat', norm: true },
    reference: 'PCQM4Mv2 HOMO-LUMO regression: Adam lr 2e-4, wd 0.1, grad-clip 5, polynomial decay after 60k warm-up steps, batch 128, L1; head Linear-GELU-LayerNorm-Linear on the graph token',
  },
  text: {
    ...base, weightDecay: 0.01, epochs: 10, head: { pool: 'mean', norm: true },
    reference: 'not released (GLUE); CLIP BPE ids -> learned embeddings (spec §2.1)',
  },
};

/** The recipe for a modality and task, with per-task adjustments (regression: loss monitor; forecasting: MSE, patience 3). */
export function recipeFor(modality: string, task: TaskKind = 'classification', overrides: Partial<Recipe> = {}): Recipe {
  const r = RECIPES[modality];
  if (!r) throw new Error(`no training recipe for modality '${modality}' (known: ${Object.keys(RECIPES).join(', ')})`);
  const out: Recipe = { ...r, betas: [...r.betas] as [number, number], head: { ...r.head } };
  if (task === 'regression' || task === 'forecasting') {
    out.monitor = 'loss';
    out.labelSmoothing = 0;
  }
  if (task === 'forecasting') {
    out.regressionLoss = 'mse';
    out.patience = 3;
    out.epochs = 10;
  }
  if (task === 'segmentation') out.monitor = 'mIoU';
  return { ...out, ...overrides };
}
