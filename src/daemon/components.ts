import { createProcessesComponent } from '../collectors/processes/component.js';
import { createSessionServer } from '../ipc/server.js';
import { createUplinkComponent } from '../uplink/component.js';
import { createEnforcerComponent } from '../enforcer/component.js';
import { createJournalBoundComponent } from '../journal/bound.js';
import type { ComponentFactory } from './component.js';

/**
 * The daemon's components, started in this order and stopped in reverse. Each capability folder
 * exports its factory; adding a capability to the daemon is one line here.
 */
export const COMPONENT_FACTORIES: ComponentFactory[] = [createProcessesComponent, createSessionServer, createUplinkComponent, createEnforcerComponent, createJournalBoundComponent];
