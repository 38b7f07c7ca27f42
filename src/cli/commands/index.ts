import { registerAuditCommands } from "../audit-command.js";
import { registerBackupCommand } from "../backup-command.js";
import { registerReplayRevocationsCommand } from "../replay-revocations-command.js";
import { registerRestoreCommand } from "../restore-command.js";
import type { Register } from "../support.js";
import { registerInvite } from "./invite.js";
import { registerMigrate } from "./migrate.js";
import { registerRootToken } from "./root-token.js";
import { registerScan } from "./scan.js";
import { registerScopes } from "./scopes.js";
import { registerServe } from "./serve.js";
import { registerSetup } from "./setup.js";
import { registerToken } from "./token.js";
import { registerUser } from "./user.js";
import { registerVerify } from "./verify.js";

/**
 * Every command, in the order `tessera --help` lists them. A new command is a file beside these that
 * exports a {@link Register} (keep its heavy imports inside the action) and one entry here.
 */
export const COMMANDS: readonly Register[] = [
  registerServe,
  registerMigrate,
  registerSetup,
  registerInvite,
  registerUser,
  registerRootToken,
  registerToken,
  registerScopes,
  registerVerify,
  registerScan,
  registerBackupCommand,
  registerRestoreCommand,
  registerAuditCommands,
  registerReplayRevocationsCommand,
];
