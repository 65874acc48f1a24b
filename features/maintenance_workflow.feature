# The manual's 計画メンテナンスワークフロー: 計画 → 告知 → 準備 → 実施 → 確認 → 完了,
# with its three checklists (features/checklists/) run as gates. The components
# to change, the window, the people to tell and the decision table all come
# from the plan. A failure anywhere rolls back every procedure that started,
# newest first, and the silence, the notices and the work report still happen.
@component:gateway @component:monitoring
Feature: Planned maintenance
  One planned maintenance, from the plan to the work report. Each component's
  own procedure (its feature file) runs inside it, in the plan's order.

  @id:planned-maintenance @rollback:planned-maintenance-rollback
  Scenario: Run the planned maintenance
    # 1. 計画 (plan)
    Given the maintenance plan is complete and its window is open
    # 2. 告知 (announcement)
    And the announcement has been sent on every channel
    # 3. 準備 (preparation)
    And every planned component is backed up and verified by checksum
    And the pre-maintenance checklist passes
    # 4. 実施 (execution)
    When a silence covers the whole maintenance
    And the versions before the work are recorded
    And every planned procedure runs in the plan's order
    And the during-maintenance checklist passes
    # 5. 復旧確認 (recovery confirmation)
    Then the recovery is confirmed: services, health endpoints and the last 50 log lines
    And the versions after the work are recorded
    # 6. 完了 (completion)
    And the maintenance's silence is expired
    And the completion notice is sent
    And backups beyond the plan's retention are removed
    And the work report is written
    And the post-maintenance checklist passes

  @rollback-procedure @id:planned-maintenance-rollback
  Scenario: Roll back the planned maintenance
    When every started procedure is rolled back, newest first
    Then the post-rollback checks pass: health, logs, silence and the rollback notice
    And the completion notice is sent
    And the work report is written
