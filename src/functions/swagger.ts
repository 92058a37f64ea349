import { app } from '@azure/functions';
import { FUNCTIONS, httpOptions } from '../api/function-table';
import { sharedRuntime } from '../shared-runtime';

app.http(FUNCTIONS.swagger.name, httpOptions(FUNCTIONS.swagger, sharedRuntime));
