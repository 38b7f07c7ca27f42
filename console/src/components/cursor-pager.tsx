import { Button, Group, Text } from "@mantine/core";
import { IconChevronLeft, IconChevronRight } from "@tabler/icons-react";
import { useCallback, useState } from "react";
import { useTranslation } from "react-i18next";

/**
 * The cursors of a cursor-paginated list: the cursor of every page up to the current one (the first is
 * null), so that "Previous" goes back without the API offering a backwards cursor.
 */
export function useCursorStack() {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  return {
    /** The current page's cursor (null: the first page). */
    cursor: cursors[cursors.length - 1] ?? null,
    /** 1-based number of the current page. */
    page: cursors.length,
    back: useCallback(() => setCursors((c) => (c.length > 1 ? c.slice(0, -1) : c)), []),
    forward: useCallback((next: string) => setCursors((c) => [...c, next]), []),
    reset: useCallback(() => setCursors([null]), []),
  };
}

export type CursorStack = ReturnType<typeof useCursorStack>;

/**
 * The footer of a cursor-paginated table (tokens, audit, recent requests): "Page N", Previous, Next.
 * Hidden while there is a single page.
 */
export function CursorPager({ stack, nextCursor }: { stack: CursorStack; nextCursor: string | null | undefined }) {
  const { t } = useTranslation();
  if (stack.page <= 1 && !nextCursor) return null;
  return (
    <Group justify="space-between">
      <Text size="sm" c="dimmed">
        {t("common.page", { page: stack.page })}
      </Text>
      <Group gap="xs">
        <Button
          variant="default"
          size="xs"
          leftSection={<IconChevronLeft size={14} />}
          disabled={stack.page <= 1}
          onClick={stack.back}
        >
          {t("common.previous")}
        </Button>
        <Button
          variant="default"
          size="xs"
          rightSection={<IconChevronRight size={14} />}
          disabled={!nextCursor}
          onClick={() => {
            if (nextCursor) stack.forward(nextCursor);
          }}
        >
          {t("common.next")}
        </Button>
      </Group>
    </Group>
  );
}
