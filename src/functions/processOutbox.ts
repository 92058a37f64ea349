import { app } from '@azure/functions';
import { FUNCTIONS, queueOptions } from '../api/function-table';
import { sharedRuntime } from '../shared-runtime';

app.storageQueue(FUNCTIONS.processOutbox.name, queueOptions(FUNCTIONS.processOutbox, sharedRuntime));
