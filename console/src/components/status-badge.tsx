import { Badge } from "@mantine/core";
import { useTranslation } from "react-i18next";
import type { TokenStatus } from "../api/types";

const COLORS: Record<TokenStatus, string> = {
  active: "green",
  inactive: "gray",
  expired: "orange",
  suspended: "yellow",
  revoked: "red",
};

export function StatusBadge({ status }: { status: TokenStatus }) {
  const { t } = useTranslation();
  return (
    <Badge color={COLORS[status]} variant="light">
      {t(`status.${status}`)}
    </Badge>
  );
}
