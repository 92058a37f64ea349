// The delivery report reader's timer: every five minutes, bounces and delays read from the sending mailboxes.
import { app } from '@azure/functions';
import { lazyTimer, timerOptions, type TimerFunctionDefinition } from '../hosting/function-definition';
import { processServices } from '../hosting/process-services';

export const readDeliveryReports: TimerFunctionDefinition = {
  name: 'readDeliveryReports',
  trigger: 'timer',
  schedule: '0 */5 * * * *',
  handler: lazyTimer(() => import('../handlers/read-delivery-reports.js').then((m) => m.createReadDeliveryReportsHandler)),
};

app.timer(readDeliveryReports.name, timerOptions(readDeliveryReports, processServices));
