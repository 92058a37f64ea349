import { app } from '@azure/functions';
import { FUNCTIONS, httpOptions } from '../api/function-table';
import { sharedRuntime } from '../shared-runtime';

app.http(FUNCTIONS.postHook.name, httpOptions(FUNCTIONS.postHook, sharedRuntime));
