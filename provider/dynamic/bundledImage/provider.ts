import { dynamicProvider } from '../providerObject';

export const bundledImageProvider = dynamicProvider('bundledImage');
