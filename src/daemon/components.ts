import { createProcessesComponent } from '../collectors/processes/component.js';
import { createSoftwareComponent } from '../collectors/software/component.js';
import { createLogons } from '../collectors/sessions/component.js';
import { createSessionServer } from '../ipc/server.js';
import { createEnforcerComponent } from '../enforcer/component.js';
import { createJournalBoundComponent } from '../journal/bound.js';
import type { ComponentFactory } from '../component/index.js';

/**
 * The uplink's module graph (undici) is loaded only when a server is configured: a standalone
 * daemon does not pay its ~20 MB of RSS.
 */
const createUplink: ComponentFactory = async (ctx) =>
  ctx.config.server.url || ctx.config.server.urls ? (await import('../uplink/component.js')).createUplinkComponent(ctx) : undefined;

/**
 * The daemon's components, started in this order and stopped in reverse. Each capability folder
 * exports its factory; adding a capability to the daemon is one line here.
 */
export const COMPONENT_FACTORIES: ComponentFactory[] = [
  createProcessesComponent,
  createSoftwareComponent,
  createSessionServer,
  createLogons,
  createUplink,
  createEnforcerComponent,
  createJournalBoundComponent,
];
