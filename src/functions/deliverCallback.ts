import { app } from '@azure/functions';
import { FUNCTIONS, queueOptions } from '../api/function-table';
import { sharedRuntime } from '../shared-runtime';

app.storageQueue(FUNCTIONS.deliverCallback.name, queueOptions(FUNCTIONS.deliverCallback, sharedRuntime));
