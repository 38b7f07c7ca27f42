import { ActionIcon } from "@mantine/core";
import {
  IconDots,
  IconEye,
  IconPencil,
  IconPlayerPause,
  IconPlayerPlay,
  IconPower,
  IconRefresh,
  IconTrash,
} from "@tabler/icons-react";
import { type ReactNode, useState } from "react";
import { useTranslation } from "react-i18next";
import type { TokenTransition, TokenView } from "../../api/types";
import { ActionMenu } from "../../components/action-menu";
import { useErrorMessage } from "../../components/error-alert";
import { lazyDialog } from "../../components/lazy-dialog";
import { notifyError, notifySuccess } from "../../components/notify";
import { can, legalActions, type RowAction, revokeNeedsSuspension } from "../../lib/permissions";
import { useCurrentOrg } from "../orgs/org-context";
import { useTokenTransition } from "./api";

const RegenerateDialog = lazyDialog(
  () => import("./regenerate-dialog").then((m) => m.RegenerateDialog),
  (p) => p.token !== null,
);

const RevokeDialog = lazyDialog(
  () => import("./revoke-dialog").then((m) => m.RevokeDialog),
  (p) => p.token !== null,
);
const EditTokenDialog = lazyDialog(
  () => import("./edit-token-dialog").then((m) => m.EditTokenDialog),
  (p) => p.token !== null,
);

const ICONS: Record<RowAction, ReactNode> = {
  regenerate: <IconRefresh size={14} />,
  deactivate: <IconPower size={14} />,
  activate: <IconPlayerPlay size={14} />,
  suspend: <IconPlayerPause size={14} />,
  resume: <IconPlayerPlay size={14} />,
  revoke: <IconTrash size={14} />,
};

/**
 * Row actions for tokens: only the transitions the status machine allows from the token's
 * current status; revoke guided to "suspend first" when the organisation requires it.
 * Render `dialogs` once; call `menu(token)` per row.
 */
export function useTokenActions() {
  const { t } = useTranslation();
  const { org, role, me } = useCurrentOrg();
  const transition = useTokenTransition(org.id);
  const message = useErrorMessage();
  const [regenerating, setRegenerating] = useState<TokenView | null>(null);
  const [revoking, setRevoking] = useState<TokenView | null>(null);
  const [editing, setEditing] = useState<TokenView | null>(null);

  const run = (token: TokenView, action: RowAction) => {
    if (action === "regenerate") return setRegenerating(token);
    if (action === "revoke") return setRevoking(token);
    transition.mutate(
      { tokenId: token.id, action: action as TokenTransition },
      {
        onSuccess: () => notifySuccess(t(`tokens.actions.done.${action}`, { name: token.name })),
        onError: (error) => notifyError(t("tokens.actions.failed"), message(error)),
      },
    );
  };

  const menu = (token: TokenView, options: { showDetails?: boolean } = {}) => {
    const mayRegenerate = can.regenerate(role, me.user.id, token, org.settings);
    const actions = legalActions(token.status).filter((a) => a !== "regenerate" || mayRegenerate);
    const base = `/orgs/${encodeURIComponent(org.id)}/tokens/${encodeURIComponent(token.id)}`;
    if (actions.length === 0 && !options.showDetails) return null;
    const blockedRevoke = revokeNeedsSuspension(token, org.settings);
    return (
      <ActionMenu
        trigger={
          <ActionIcon
            variant="subtle"
            color="gray"
            aria-label={t("tokens.actions.menu", { name: token.name })}
            loading={transition.isPending && transition.variables?.tokenId === token.id}
          >
            <IconDots size={18} />
          </ActionIcon>
        }
        items={[
          ...(options.showDetails
            ? [{ key: "view", label: t("tokens.actions.view"), icon: <IconEye size={14} />, to: base }]
            : []),
          ...(can.edit(token)
            ? [{ key: "edit", label: t("tokens.actions.edit"), icon: <IconPencil size={14} />, onClick: () => setEditing(token) }]
            : []),
          ...actions.map((action) =>
            action === "revoke" && blockedRevoke
              ? { key: action, label: t("tokens.actions.revokeSuspendFirst"), icon: ICONS.revoke, color: "red.9", disabled: true }
              : {
                  key: action,
                  label: t(`tokens.actions.${action}`),
                  icon: ICONS[action],
                  // red.9: red on the hovered item's tint must still read at 4.5:1.
                  color: action === "revoke" ? "red.9" : undefined,
                  onClick: () => run(token, action),
                },
          ),
        ]}
      />
    );
  };

  const dialogs = (
    <>
      <RegenerateDialog token={regenerating} onClose={() => setRegenerating(null)} />
      <RevokeDialog token={revoking} onClose={() => setRevoking(null)} />
      <EditTokenDialog token={editing} onClose={() => setEditing(null)} />
    </>
  );

  return { menu, dialogs, run, edit: (token: TokenView) => setEditing(token) };
}
