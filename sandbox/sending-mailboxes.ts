// What lands in the sandbox's sending mailboxes: the delivery reports the chaos recipients earn. Held in memory, per
// mailbox and folder, with IMAP's unique ids, so that the sandbox's IMAP server can serve them as Exchange would.

export const INBOX = 'INBOX';
/** Bounds what a sandbox mailbox keeps, so that a long-running sandbox cannot grow without end. */
export const MAX_MESSAGES_PER_FOLDER = 10_000;
export const MAX_FOLDERS_PER_MAILBOX = 50;

export interface StoredMessage {
  uid: number;
  raw: Buffer;
  flags: Set<string>;
  internalDate: Date;
}

export interface Folder {
  name: string;
  uidValidity: number;
  uidNext: number;
  messages: StoredMessage[];
}

export class SendingMailboxes {
  private readonly boxes = new Map<string, Map<string, Folder>>();
  private readonly listeners = new Set<(mailbox: string, message: StoredMessage) => void>();

  /** Puts a message in the mailbox's inbox (the oldest goes when the folder is full). */
  deliver(mailbox: string, raw: Buffer): StoredMessage {
    const inbox = this.folder(mailbox, INBOX)!;
    const message = this.append(inbox, raw, new Set());
    for (const listener of this.listeners) listener(mailbox.toLowerCase(), message);
    return message;
  }

  append(folder: Folder, raw: Buffer, flags: Set<string>, internalDate = new Date()): StoredMessage {
    const message: StoredMessage = { uid: folder.uidNext++, raw, flags, internalDate };
    folder.messages.push(message);
    if (folder.messages.length > MAX_MESSAGES_PER_FOLDER) folder.messages.shift();
    return message;
  }

  onDeliver(listener: (mailbox: string, message: StoredMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The folder by name (INBOX in any case), made when `create` is set; undefined when missing. */
  folder(mailbox: string, name: string, create = name.toUpperCase() === INBOX): Folder | undefined {
    const key = mailbox.toLowerCase();
    let folders = this.boxes.get(key);
    if (!folders) this.boxes.set(key, (folders = new Map<string, Folder>()));
    const folderName = name.toUpperCase() === INBOX ? INBOX : name;
    let folder = folders.get(folderName);
    if (!folder && create) {
      if (folders.size >= MAX_FOLDERS_PER_MAILBOX) throw new Error(`at most ${MAX_FOLDERS_PER_MAILBOX} folders per mailbox`);
      folders.set(folderName, (folder = { name: folderName, uidValidity: Math.floor(Date.now() / 1000), uidNext: 1, messages: [] }));
    }
    return folder;
  }

  folders(mailbox: string): Folder[] {
    this.folder(mailbox, INBOX);
    return [...this.boxes.get(mailbox.toLowerCase())!.values()];
  }
}
