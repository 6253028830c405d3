import { dynamicProvider } from '../providerObject';

export const unikernelInstanceProvider = dynamicProvider('unikernelInstance');
