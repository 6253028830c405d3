import { dynamicProvider } from '../providerObject';

export const registeredAmiProvider = dynamicProvider('registeredAmi');
