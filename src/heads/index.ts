export { poolTokens, maskedMean, maskedMax, pooledDim, POOL_MODES, type PoolMode, type PoolOptions } from './pooling.js';
export { ClassificationHead, RegressionHead, multiLabelLoss, buildMlpHead, type PooledHeadOptions, type MlpHeadOptions } from './classification.js';
export { TokenHead, tokenCrossEntropy, type TokenHeadOptions, type TokenLossOptions } from './token.js';
export {
  LinearForecastHead, DecoderForecastHead, TSLibDecoder, TSLibDecoderLayer, TSLibAttention, forecastDecoderInput,
  type LinearForecastHeadOptions, type DecoderForecastHeadOptions,
} from './forecast.js';
export { GraphRegressionHead } from './graph.js';
