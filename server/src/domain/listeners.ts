// How one service reacts to another's change in this process: the service that changes owns a
// list of listeners, services.ts adds to it, and the change awaits each listener in turn (a
// listener's failure is the change's failure unless the listener catches it). The event bus is
// not for this: it fans out over Redis to subscriptions, and nobody awaits its receivers.
export class Listeners<Args extends unknown[]> {
  private readonly list: Array<(...args: Args) => Promise<void>> = [];

  add(listener: (...args: Args) => Promise<void>): void {
    this.list.push(listener);
  }

  async emit(...args: Args): Promise<void> {
    for (const listener of this.list) await listener(...args);
  }
}
