export { startDashboard, type Dashboard, type DashboardOptions } from './server.js';
export { dashboardState, type DashboardState, type DashboardRun } from './snapshot.js';
