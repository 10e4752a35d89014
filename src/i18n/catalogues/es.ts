/** The Spanish texts of every message. */
import { type Catalogue, type DenyWhat, extra } from '../types.js';

export const es: Catalogue = (() => {
  const seats = (n: number | null) => (n === null ? '' : n === 1 ? 'La única licencia está en uso. ' : `Las ${n} licencias están en uso. `);
  const what = (p: { product: string; what: DenyWhat; seats: number | null }) =>
    ({
      offline: `No se puede acceder al servidor de licencias y ${p.product} no puede ejecutarse sin licencia.`,
      none: `${p.product} no tiene licencias disponibles.`,
      one: `La única licencia de ${p.product} está en uso.`,
      all: `Las ${p.seats} licencias de ${p.product} están en uso.`,
      unknown: `No hay ninguna licencia de ${p.product} libre.`,
    })[p.what];
  return {
    'queued.suspend': (p) => ({
      title: `${p.product}: esperando una licencia`,
      body: `${seats(p.seats)}${p.product} está en pausa y usted es el número ${p.position} en la cola. Continuará por sí solo en cuanto haya una licencia libre.`,
    }),
    'queued.notify': (p) => ({
      title: `${p.product}: no hay licencias libres`,
      body: `${seats(p.seats)}Usted es el número ${p.position} en la cola; se le avisará cuando su licencia esté lista. ${p.denyMessage ?? ''}`.trim(),
    }),
    ready: (p) => ({
      title: `${p.product}: su licencia está lista`,
      body: p.continues ? `Hay una licencia libre y ${p.product} continúa ahora.` : `Hay una licencia libre; ${p.product} ya tiene licencia.`,
    }),
    'idle.back': (p) => ({
      title: `${p.product}: su licencia ha vuelto`,
      body: p.continues
        ? `Bienvenido de nuevo. Se le ha vuelto a conceder una licencia y ${p.product} continúa.`
        : `Bienvenido de nuevo. ${p.product} vuelve a tener licencia.`,
    }),
    'renew.ok': (p) => ({
      title: `${p.product}: licencia renovada`,
      body: `El servidor de licencias vuelve a estar accesible; ${p.product} sigue funcionando.`,
    }),
    'renew.failing': (p, f) => {
      const at = f.time(p.deadlineAt);
      const consequence = {
        notify: `su uso se registrará como sin licencia después de las ${at}`,
        suspend: `${p.product} se pausará a las ${at}`,
        terminate: `${p.product} se cerrará a las ${at}`,
      }[p.onDeny];
      return {
        title: `${p.product}: servidor de licencias inaccesible`,
        body: `No se pudo renovar la licencia de ${p.product}. Si no se puede renovar antes de las ${at}, ${consequence}.${p.onDeny === 'terminate' ? ' Guarde su trabajo.' : ''}`,
      };
    },
    'deny.notify': (p) => ({
      title: `${p.product}: no hay licencia disponible`,
      body: `${what(p)} Puede seguir trabajando; este uso se registra como sin licencia.${extra(p.denyMessage)}`,
    }),
    'deny.suspend': (p) => ({
      title: `${p.product}: en pausa, sin licencia`,
      body: `${what(p)} ${p.product} está en pausa y continuará por sí solo en cuanto se conceda una licencia.${extra(p.denyMessage)}`,
    }),
    'deny.gate': (p) => ({ title: `${p.product} no se ha iniciado`, body: `${what(p)} ${p.product} se detuvo antes de abrirse.${extra(p.denyMessage)}` }),
    'deny.terminate': (p, f) => ({
      title: `${p.product} se cerrará`,
      body: `${what(p)} ${p.product} se cerrará a las ${f.time(p.closeAt)} (en ${p.inSeconds} s). Guarde su trabajo ahora.${extra(p.denyMessage)}`,
    }),
    'expired.terminate': (p) => ({ title: `${p.product} se está cerrando`, body: `No se pudo renovar a tiempo la licencia de ${p.product}.` }),
    'expired.suspend': (p) => ({
      title: `${p.product} está en pausa`,
      body: `No se pudo renovar a tiempo la licencia de ${p.product}. Continuará por sí solo en cuanto se conceda una licencia.`,
    }),
    'idle.kept': (p) => ({ title: `${p.product}: licencia conservada`, body: `Bienvenido de nuevo; se conserva su licencia de ${p.product}.` }),
    'idle.ask': (p, f) => {
      const then = {
        notify: 'se le volverá a avisar',
        release: 'su licencia se liberará para otros',
        suspend: `su licencia se liberará y ${p.product} se pausará`,
        terminate: `su licencia se liberará y ${p.product} se cerrará`,
      }[p.then];
      return {
        title: `${p.product}: ¿todavía lo está usando?`,
        body: `${p.product} no ha recibido ninguna entrada en ${f.duration(p.idleSeconds)}. Si no lo usa antes de las ${f.time(p.deadlineAt)}, ${then}.`,
      };
    },
    'idle.paused': (p) => ({
      title: `${p.product} en pausa`,
      body: `Su licencia se liberó porque estaba inactivo. Vuelva a usar ${p.product} para continuar: se volverá a solicitar su licencia.`,
    }),
    'idle.closed': (p) => ({ title: `${p.product} cerrado`, body: 'Su licencia se liberó porque estaba inactivo.' }),
    'idle.released': (p) => ({
      title: `${p.product}: licencia liberada`,
      body: 'Su licencia se liberó porque estaba inactivo; el programa sigue funcionando sin licencia. Vuelva a usarlo para recuperar una licencia.',
    }),
  };
})();
