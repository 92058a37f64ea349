// GET /api/diagnostics/doctor: the doctor's checks from inside the app; the host's master key only.
import { app } from '@azure/functions';
import { ROUTES } from '../api/routes';
import { httpOptions, lazyHttp, type HttpFunctionDefinition } from '../hosting/function-definition';
import { processServices } from '../hosting/process-services';

export const runDoctor: HttpFunctionDefinition = {
  name: 'runDoctor',
  trigger: 'http',
  method: 'GET',
  route: ROUTES.doctor,
  authLevel: 'admin',
  handler: lazyHttp(() => import('../handlers/doctor.js').then((m) => m.createRunDoctorHandler)),
};

app.http(runDoctor.name, httpOptions(runDoctor, processServices));
