import { app } from '@azure/functions';
import { FUNCTIONS, httpOptions } from '../api/function-table';
import { sharedRuntime } from '../shared-runtime';

app.http(FUNCTIONS.sendMail.name, httpOptions(FUNCTIONS.sendMail, sharedRuntime));
