// The HTTP routes, once. Functions serves them under host.json's route prefix ("api" unless changed there).
export const ROUTE_PREFIX = 'api';

export const ROUTES = {
  mail: 'mail',
  mailStatus: 'mail/{id}',
  openApi: 'openapi.json',
  swagger: 'swagger.json',
  hook: 'hooks/{template}',
  // Not under admin/: the Functions host reserves that prefix for its own endpoints.
  doctor: 'diagnostics/doctor',
} as const;

/** The path template of a route, e.g. "/api/mail/{id}". */
export function routeTemplate(route: string): string {
  return `/${ROUTE_PREFIX}/${route}`;
}

/** The path of a route with its parameters filled in (each encoded as one path segment). */
export function routePath(route: string, params: Record<string, string>): string {
  return routeTemplate(route).replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? ''));
}
